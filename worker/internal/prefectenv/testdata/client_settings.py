"""Print Prefect's client-side settings as JSON: for every settings field
outside the "server" section, its canonical environment variable followed by
the older names Prefect still reads for it, in Prefect's order."""
import json

from pydantic import AliasChoices
from prefect.settings.base import PrefectBaseSettings
from prefect.settings.models.root import Settings


def walk(cls, path, out):
    for name, field in cls.model_fields.items():
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, PrefectBaseSettings):
            if not (path == [] and name == "server"):
                walk(ann, path + [name], out)
            continue
        names = [(cls.model_config.get("env_prefix") or "") + name.upper()]
        alias = field.validation_alias
        choices = alias.choices if isinstance(alias, AliasChoices) else [alias] if isinstance(alias, str) else []
        for a in choices:
            if isinstance(a, str) and a.upper() not in names:
                names.append(a.upper())
        out.append(names)


out = []
walk(Settings, [], out)
print(json.dumps(out))
