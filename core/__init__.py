"""Pieces shared by every layer: settings read from the environment and the error hierarchy."""
