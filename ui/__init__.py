"""The Streamlit side of the app: app.py lays out widgets and calls cached pure
functions.

- ``ui.state``: every setting of the app as a typed field with a default and a valid
  range; parsing and writing the URL query string (the whole state lives in the URL);
  the run specifications (RunSpec) the views compute from.
- ``ui.presets``: named settings that set everything at once (paper figures, ...).
- ``ui.sidebar``: the sidebar widgets, bound to the fields.
- ``ui.compute``: st.cache_data wrappers around dynamics/ (results as NumPy arrays,
  bounded by max_entries); the jitted programs are built once per process.
- ``ui.views``: one module per tab, each with ``render(ctx)``; ``ui.views.VIEWS`` is the
  tab registry (add a view by adding a module and an entry there).

Computation stays in dynamics/ and figures in viz/; nothing here draws or integrates.
"""
