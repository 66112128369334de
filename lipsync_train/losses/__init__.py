"""Training losses, one module each; the Lightning modules combine them with weights from the config."""
