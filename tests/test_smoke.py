from leads_import.engine import import_leads


def test_import_creates(workspace, db):
    report = import_leads([{"email": "a@x.com"}], workspace.slug)
    assert report["created"] == 1
