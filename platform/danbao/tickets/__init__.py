"""Service tickets (服务工单): questions, requests and complaints on a guarantee project,
opened by its applicant (portal) or by staff, assigned, answered and closed within the
tenant's SLA. docs/tickets.md."""
