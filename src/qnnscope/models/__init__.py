"""Models beyond plain circuits: dissipative QNNs (and, later, hybrid classifiers)."""
