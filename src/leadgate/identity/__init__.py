"""Identity on the way in: one lead per person, and the accounts leads belong to.

- `merge.py` — `merge_leads(engine, KEEP, OTHER)`: the other lead's events, history,
  qualification, notes and the rest move to the kept one, whose history is derived
  again from the facts of both; the other address becomes an alias (later events for
  it land on the kept lead); audited in `lead_merges`, announced as `lead.merged`.
- `accounts.py` — company domain → account (free-mail domains excluded), with its
  leads, owner and engagement (the sum of its leads').
- `http.py` — `POST /leads/{id}/merge`, `GET /accounts`, `GET /accounts/{domain}`.

The engine resolves aliases and the playbook's `identity:` rules on every way in
(`leadgate.engine.identity`); this package is what people call.
"""
