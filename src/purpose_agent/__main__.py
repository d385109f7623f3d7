"""`python -m purpose_agent`: the same command line as `purpose-agent`."""

from purpose_agent.cli import app

app(prog_name="purpose-agent")
