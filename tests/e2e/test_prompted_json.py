"""JSON mode with the schema in the prompt (OpenAI's json_object, as instructor's and pydantic-ai's
prompted modes use it): through the proxy, the simulator answers an instance of that schema."""

from __future__ import annotations

import json
from typing import Literal

import openai
import pydantic

from tests.servers import ServerProcess


class Address(pydantic.BaseModel):
    city: str
    country: str


class Person(pydantic.BaseModel):
    name: str
    age: int = pydantic.Field(ge=18)
    role: Literal["admin", "user"]
    address: Address
    emails: list[str] = pydantic.Field(min_length=2)


def test_json_object_answer_follows_the_schema_in_the_prompt(proxy: ServerProcess) -> None:
    client = openai.OpenAI(base_url=proxy.url + "/v1", api_key="unused", max_retries=0)
    schema = json.dumps(Person.model_json_schema(), indent=2)
    for messages in (
        [{"role": "system", "content": f"Answer in JSON matching this json_schema:\n\n{schema}"},
         {"role": "user", "content": "Jason is 25 and lives in Oslo."}],
        [{"role": "user", "content": f"Extract the person. Use this schema:\n```json\n{schema}\n```\nJason, 25."}],
    ):
        reply = client.chat.completions.create(model="gemini-2.5-flash", messages=messages,  # type: ignore[arg-type]
                                               response_format={"type": "json_object"})
        person = Person.model_validate_json(reply.choices[0].message.content or "")
        assert person.age == 18 and person.role == "admin" and len(person.emails) == 2
        assert person.address == Address(city="city value", country="country value")
    plain = client.chat.completions.create(model="gemini-2.5-flash", messages=[{"role": "user", "content": "hi"}],
                                           response_format={"type": "json_object"})
    assert set(json.loads(plain.choices[0].message.content or "")) == {"reply"}
