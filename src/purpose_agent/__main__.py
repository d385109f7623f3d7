"""`python -m purpose_agent`: the same command line as `purpose-agent`."""

from purpose_agent.cli import app

# Guarded: a process that imports this module again (multiprocessing's children) must not run it.
if __name__ == "__main__":
    app(prog_name="purpose-agent")
