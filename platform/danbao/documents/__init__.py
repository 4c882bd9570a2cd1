"""Documents a guarantor issues for a project: contracts and the guarantee letter.

Rendered from the tenant's templates in Jinja2's sandbox (``render``), made a PDF with
Chinese fonts (``pdf``), the letter given a QR code to its public verification page
(``qr``, ``tokens``), signed through the e-signature plug-in and stored with its hashes
(``issuing``). See docs/documents.md.
"""
