"""Analytics over scores: factor tear sheets (alphalens-equivalent, vectorised)."""
