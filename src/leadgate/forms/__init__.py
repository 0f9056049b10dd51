"""Lead-capture forms: the pure logic (which steps and fields a visitor sees, what a
finished form records, what counts as spam) and, in `http.py`/`store.py`/`service.py`,
the adapter that serves them (hosted page `/f/{form}`, the `/f/{form}.js` snippet, the
submission endpoint) and keeps consents, submissions and rejections.

    from leadgate.forms.flow import Known, walk, submission
    steps = walk(playbook.forms["demo"], Known(), {"email": "ann@acme.com"})

The forms themselves are the playbook's `forms:` section
(`leadgate.playbook.forms_section`). See docs/forms.md.
"""
