"""Plotly figure builders: data in, go.Figure out.  Shared by the app and the command line."""
