"""Agent delegation: named agents (``registry.py``), a job's Gemini request and answer
(``gemini.py``), the delegate request and job views (``jobs.py``), the scheduler that
claims jobs (``scheduler.py``), running one job (``runner.py``), the clock they share
(``clock.py``) and the facade the routes call (``service.py``). Jobs are stored by
``state/jobs*.py``; the routes are ``api/agents.py``. See docs/agents.md."""
