"""The HTTP API (Flask). Never imports torch, nor any pipeline module that does."""
