"""Offline data synthesis and training for the orientation, CTPN and CRNN models."""
