"""Follow-ups that compare with intake (issue 18)."""
