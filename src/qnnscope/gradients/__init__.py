"""Gradient-variance studies (barren plateaus): one module per idea, importable on its own.

* :mod:`~qnnscope.gradients.point`: what a sweep point is (:class:`GradientPoint`) and the
  columns that identify it in shards and tables (light: plots and tables import it);
* :mod:`~qnnscope.gradients.evaluate`: checking a point before any work, and computing one
  chunk of its samples as a shard frame, dispatching to the model's module;
* :mod:`~qnnscope.gradients.vqc` and :mod:`~qnnscope.gradients.dqnn`: evaluation per model
  (variational circuits exactly, under noise or with shots; dissipative QNNs);
* :mod:`~qnnscope.gradients.shards`: shard files (atomic writes, metadata, currency checks);
* :mod:`~qnnscope.gradients.summary`: per-point variances with CIs, and scaling fits.

This package file imports nothing, so importing a light submodule stays light.
"""
