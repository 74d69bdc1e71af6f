"""CTPN geometry: anchors, box coding, text-line construction, NMS (numpy only)."""
