"""Group ``factors``: daily factor scores, the market regime with the weights in force, tear sheets."""
