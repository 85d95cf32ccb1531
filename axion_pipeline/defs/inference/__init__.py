"""Group ``inference``: daily predictions of the production models and hybrid rule/ML scores."""
