"""OCR: the text of pages that have no text layer (scanned PDFs, images), read offline on the CPU."""
