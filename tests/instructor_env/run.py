"""Runs instructor against a proxy (argv[1], its base URL) in each of its OpenAI modes and prints
one JSON line per mode: the model instructor returned, or the error. Run by
tests/e2e/test_instructor.py with the Python of .venv-instructor (see requirements.lock)."""

import json
import sys

import instructor
import openai
from pydantic import BaseModel, Field


class Person(BaseModel):
    name: str
    age: int = Field(ge=18)
    role: str = Field(json_schema_extra={"enum": ["admin", "user"]})


client = openai.OpenAI(base_url=sys.argv[1] + "/v1", api_key="unused", max_retries=0)
for name in sys.argv[2:]:
    patched = instructor.from_openai(client, mode=instructor.Mode[name])
    try:
        person, raw = patched.chat.completions.create_with_completion(
            model="gemini-2.5-flash",
            response_model=Person,
            max_retries=0,
            messages=[{"role": "user", "content": "Jason is 25 and an admin."}],
        )
        line = {"mode": name, "person": person.model_dump(), "total_tokens": raw.usage.total_tokens}
    except Exception as exc:  # reported to the test, which names the mode that failed
        line = {"mode": name, "error": f"{type(exc).__name__}: {exc}"[:2000]}
    print(json.dumps(line), flush=True)
