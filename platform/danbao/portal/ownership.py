"""What an applicant owns: the records their owner identity made, the projects made of
those records, and the documents issued for them. Every portal read goes through here, so
each query names the tenant (the model manager) and the applicant; anything else is None,
which the pages answer 404."""

from __future__ import annotations

import uuid

from danbao.db.models import Applicant, Project, ProjectDocument, Record


def _uuid(raw: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(raw)
    except ValueError:
        return None


async def records_of(applicant: Applicant) -> list[Record]:
    """Newest first; sensitive fields still sealed."""
    return await Record.filter(created_by=applicant.user_id).order_by("-created_at")


async def record_of(
    applicant: Applicant, record_id: str, *, for_update: bool = False
) -> Record | None:
    key = _uuid(record_id)
    if key is None:
        return None
    query = Record.filter(id=key, created_by=applicant.user_id)
    if for_update:
        query = query.select_for_update()
    return await query.first()


async def projects_by_record(applicant: Applicant) -> dict[uuid.UUID, Project]:
    owned = Record.filter(created_by=applicant.user_id).values_list("id", flat=True)
    rows = await Project.filter(record_id__in=await owned)
    return {row.record_id: row for row in rows}


async def project_of(applicant: Applicant, project_id: str) -> tuple[Project, Record] | None:
    key = _uuid(project_id)
    project = await Project.filter(id=key).first() if key else None
    if project is None:
        return None
    record = await Record.filter(id=project.record_id, created_by=applicant.user_id).first()
    return (project, record) if record is not None else None


async def documents_of(project: Project) -> list[ProjectDocument]:
    """The project's issued contracts and letters (by the project, or its application)."""
    by_project = await ProjectDocument.filter(project_id=project.id).order_by("-issued_at")
    by_record = await ProjectDocument.filter(record_id=project.record_id, project_id=None).order_by(
        "-issued_at"
    )
    return [*by_project, *by_record]
