"""Analytics over scores: factor tear sheets (alphalens-equivalent, vectorised) and the
cross-sectional ranks and rank correlations (``cross_section``) that every layer shares."""
