"""Group ``features``: ML features per (date, ticker), forward-return targets, regime features."""
