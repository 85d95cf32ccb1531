"""Group ``monitoring``: realized model health, feature drift against the training data, SHAP explanations."""
