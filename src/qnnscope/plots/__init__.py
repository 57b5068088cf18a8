"""Publication figures (matplotlib, object-oriented API only: no pyplot state).

Each module turns one kind of results table into :class:`matplotlib.figure.Figure` objects;
:func:`qnnscope.plots.gradients.save` writes them as PNG and PDF.
"""
