"""People's rights over their data: what is held about a person (`erase.export_person`),
erasure everywhere it was copied (`erase.erase_person`), the suppression list that keeps
an erased person out (`suppression`), the registry of places personal data lives
(`registry`), and retention by the playbook (`retention`). See docs/privacy.md.

Example:
    >>> from leadgate.privacy.suppression import address_hash
    >>> len(address_hash("secret", "ana@acme.com"))
    64
"""
