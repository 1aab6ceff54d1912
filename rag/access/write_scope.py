"""Which stored document a write names, so that a writer never changes what it may not see and never learns that it
exists (docs/access.md, "Writes").

The rule, for a writer that does not see everything (not an admin, not the operator):
- an id naming a stored document the writer may see names that document: it is updated, re-permissioned or
  deleted, as `DELETE /v1/documents/{id}` always allowed;
- any other id is the writer's own: it is stored under the writer's namespace, `KIND:SUBJECT/ID` (`user:alice/
  notes.md`, `service:payroll-bot/notes.md`; `/` and `%` in the subject percent-encoded, so no two writers'
  namespaces meet). A
  write to an id that another principal's hidden document holds therefore answers exactly as a write to an id that
  does not exist: the document is created in the writer's namespace, and the hidden one is untouched;
- an id already in the writer's namespace names itself. If a document the writer may not see holds it (one the
  writer stored with an access that leaves itself out, or one an admin put there), the write is refused with a
  conflict: only the writer and the tenant's admins can put a document there, so this tells no one anything new.

Admins and the operator write ids as given, with full rights.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from urllib.parse import quote

from rag.access.document_access import DocumentAccess, Reader
from rag.errors import Conflict

# The accesses a stored document's chunks hold, or None when no document has the id.
StoredAccess = Callable[[str], Collection[DocumentAccess | None] | None]


# What stays as it is in a subject: letters, digits and the punctuation of e-mail addresses and key ids. `/` and `%`
# are always encoded (and spaces, other characters), so two subjects never give one namespace.
_KEPT = "!$&'()*+,;=:@-._~"


def own_prefix(reader: Reader) -> str:
    """A writer's namespace: its kind and its subject (`/`, `%` and the like percent-encoded), then `/`."""
    return f"{reader.kind}:{quote(reader.subject or '', safe=_KEPT)}/"


@dataclass(frozen=True, slots=True)
class WriteScope:
    """What a writer may change: everything (admins, the operator) or what its reader sees plus its own namespace."""

    reader: Reader

    def own_id(self, doc_id: str) -> str:
        """`doc_id` in the writer's own namespace (as given when it is there already, or for a whole-tenant writer)."""
        if self.reader.everything:
            return doc_id
        prefix = own_prefix(self.reader)
        return doc_id if doc_id.startswith(prefix) else prefix + doc_id

    def target(self, doc_id: str, stored: StoredAccess) -> str:
        """The id a write of `doc_id` lands on; Conflict when that is a document of the writer's own namespace that
        the writer may not see."""
        reader = self.reader
        if reader.everything:
            return doc_id
        found = stored(doc_id)
        if found is not None and reader.sees(found):
            return doc_id
        own = self.own_id(doc_id)
        found = stored(own)
        if found is not None and not reader.sees(found):
            raise Conflict(f"document '{own}' is stored with an access that leaves you out", param="id")
        return own
