"""ocrctl: the command-line client of the OCR platform's HTTP API (client.http holds the HTTP part)."""
