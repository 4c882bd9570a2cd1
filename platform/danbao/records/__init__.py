"""Records of a tenant's forms: drafts, validation, submission with a document number.

The runtime for every form a tenant defines: one generic lifecycle (draft → submitted),
the data kept as JSON keyed by the form's field keys, checked against the form's JSON
Schema, reached only through scoped access functions that apply the caller's data scope.
"""

from danbao.records.definition import FormDefinition, FormNotFound
from danbao.records.validation import FieldError, validate_data

__all__ = ["FieldError", "FormDefinition", "FormNotFound", "validate_data"]
