"""End-to-end tests of ``proofbound serve`` run as a real subprocess."""
