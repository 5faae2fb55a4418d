"""The data store helpers: Data* (per recipe, or the shared namespace)."""

from __future__ import annotations

import json
from typing import Any

from .datastore import js_number, js_string
from .helper_state import HelperFailure, HelperState


class DataHelpers(HelperState):
    """The data store helpers: Data* (per recipe, or the shared namespace)."""

    # -- data store --------------------------------------------------------------------
    def _key(self, args: list[Any], what: str) -> str:
        if not args or args[0] is None:
            raise HelperFailure(f"{what} needs a key", -1)
        return js_string(args[0])

    def _value(self, what: str, value: Any) -> str:
        text = js_string(value)
        cap = self.s.cfg.max_value_bytes
        if len(text) > cap or len(text.encode("utf-8", "surrogatepass")) > cap:
            raise HelperFailure(f"{what}: the value is larger than max_value_bytes ({cap} bytes)")
        return text

    def h_DataSet(self, args: list[Any]) -> Any:
        key = self._key(args, "DataSet")
        value = self._value("DataSet", args[1]) if len(args) > 1 else "undefined"
        self.s.store.set(self.name, self._value("DataSet", key), value)
        return 0

    def h_DataGet(self, args: list[Any]) -> Any:
        if not args:
            raise HelperFailure("DataGet needs a key", "")
        value = self.s.store.get(self.name, js_string(args[0]))
        return "" if value is None else value

    def h_DataDelete(self, args: list[Any]) -> Any:
        key = self._key(args, "DataDelete")
        return 0 if self.s.store.delete(self.name, key) else 1

    def h_DataClear(self, args: list[Any]) -> Any:
        self.s.store.clear(self.name)
        return 0

    def h_DataPush(self, args: list[Any]) -> Any:
        if not args:
            raise HelperFailure("DataPush needs a value")
        key = self._value("DataPush", args[0]) if len(args) >= 2 else ""
        value = self._value("DataPush", args[1] if len(args) >= 2 else args[0])
        cap = self.s.cfg.max_list_items
        if self.s.store.list_len(self.name, key) >= cap:
            raise HelperFailure(f"DataPush: the list is full (max_list_items {cap})")
        self.s.store.push(self.name, key, value)
        return 0

    def h_DataPop(self, args: list[Any]) -> Any:
        key = js_string(args[0]) if args and args[0] is not None else ""
        value = self.s.store.pop(self.name, key)
        return "" if value is None else value

    def h_DataKeys(self, args: list[Any]) -> Any:
        return json.dumps(self.s.store.keys(self._ns(args)), separators=(",", ":"))

    def h_DataValues(self, args: list[Any]) -> Any:
        return json.dumps(self.s.store.values(self._ns(args)), separators=(",", ":"))

    def h_DataSize(self, args: list[Any]) -> Any:
        return self.s.store.size(self._ns(args))

    def h_DataIsEmpty(self, args: list[Any]) -> Any:
        return self.s.store.size(self._ns(args)) == 0

    def h_DataHasKey(self, args: list[Any]) -> Any:
        return bool(args) and self.s.store.has_key(self.name, js_string(args[0]))

    def h_DataHasValue(self, args: list[Any]) -> Any:
        return bool(args) and self.s.store.has_value(self.name, js_string(args[0]))

    def h_DataIncr(self, args: list[Any]) -> Any:
        key = self._key(args, "DataIncr")
        delta = 1.0
        if len(args) > 1 and args[1] is not None:
            try:
                delta = float(args[1])
            except (TypeError, ValueError):
                raise HelperFailure(f"invalid delta {args[1]!r}") from None
        new = self.s.store.incr(self.name, key, delta)
        return int(new) if js_number(new).lstrip("-").isdigit() else new

    def _ns(self, args: list[Any]) -> str:
        """DataKeys("shared:") etc. address the shared namespace; default the recipe's."""
        if args and js_string(args[0]) == "shared:":
            return self.s.store.shared_namespace
        return self.name
