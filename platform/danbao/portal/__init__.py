"""The customer portal's domain (docs/portal.md): applicants apart from staff, one-time
sign-in codes, applicant sessions, what an applicant owns, and progress told plainly."""
