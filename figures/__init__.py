"""The paper figures: presets and the validation of their configurations
(figures.presets), and the computation behind them (figures.compute); the figures are
drawn by viz.paper.  The command line's ``figure`` subcommand (cli.figure) uses them."""
