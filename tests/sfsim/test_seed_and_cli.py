"""Seeding through the command line: deterministic, realistic, and a usable org."""

import sqlite3
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _seed(folder: Path, size: str) -> str:
    return subprocess.run(
        [sys.executable, "-m", "sfsim", "seed", "--data", str(folder), size],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def _rows(folder: Path, sql: str) -> list:
    with sqlite3.connect(folder / "org.sqlite3") as conn:
        return conn.execute(sql).fetchall()


def test_seed_is_deterministic_and_sized(tmp_path):
    out = _seed(tmp_path / "a", "5000")
    assert "seeded 5000" in out
    _seed(tmp_path / "b", "5000")
    query = 'SELECT "Name", "Industry", "OwnerId", "CreatedDate" <= "SystemModstamp" FROM "Account" ORDER BY "Id"'
    first, second = _rows(tmp_path / "a", query), _rows(tmp_path / "b", query)
    assert first == second and len(first) == 500 and all(r[3] for r in first)
    total = sum(
        _rows(tmp_path / "a", f'SELECT COUNT(*) FROM "{t}"')[0][0]
        for t in ("Account", "Contact", "Opportunity", "OpportunityLineItem", "Lead", "Task", "Event", "Project__c")
    )
    assert 4500 <= total <= 5500


def test_demo_milestones_are_a_created_custom_object_and_deterministic(tmp_path):
    for folder in ("a", "b"):
        assert "Milestone__c" in _seed(tmp_path / folder, "demo")
    query = 'SELECT "Id", "Name", "Project__c", "Status__c", "Due_Date__c" FROM "Milestone__c" ORDER BY "Id"'
    first, second = _rows(tmp_path / "a", query), _rows(tmp_path / "b", query)
    assert first == second and 100 <= len(first) <= 400
    projects = {r[0] for r in _rows(tmp_path / "a", 'SELECT "Id" FROM "Project__c"')}
    assert {r[2] for r in first} == projects  # every project has milestones, every milestone a project
    # Created as the control API creates objects: its definition, fields and grants live in the org.
    assert _rows(tmp_path / "a", "SELECT name FROM _sfsim_custom_objects") == [("Milestone__c",)]
    assert _rows(tmp_path / "a", "SELECT COUNT(*) FROM _sfsim_custom_fields WHERE object = 'Milestone__c'")[0][0] == 6
    grants = 'SELECT COUNT(*) FROM "ObjectPermissions" WHERE "SobjectType" = \'Milestone__c\''
    assert _rows(tmp_path / "a", grants)[0][0] == 2


def test_seeded_relationships_and_derived_fields_hold(tmp_path):
    _seed(tmp_path, "demo")
    orphans = _rows(
        tmp_path,
        'SELECT COUNT(*) FROM "Contact" c LEFT JOIN "Account" a ON a."Id" = c."AccountId" WHERE a."Id" IS NULL',
    )[0][0]
    assert orphans == 0
    mismatched = _rows(
        tmp_path,
        'SELECT COUNT(*) FROM "Opportunity" o WHERE o."HasOpportunityLineItem" = 1 AND '
        'ROUND(o."Amount", 2) != (SELECT ROUND(SUM("TotalPrice"), 2) FROM '
        '"OpportunityLineItem" l WHERE l."OpportunityId" = o."Id")',
    )[0][0]
    assert mismatched == 0
    stages = {r[0] for r in _rows(tmp_path, 'SELECT DISTINCT "StageName" FROM "Opportunity"')}
    assert {"Prospecting", "Closed Won", "Closed Lost"} <= stages
    assert _rows(tmp_path, 'SELECT COUNT(*) FROM "User" WHERE "IsActive" = 1')[0][0] >= 9


def test_serve_prints_what_a_new_user_needs(tmp_path):
    from sfsim.launch import start_sfsim

    server = start_sfsim(tmp_path, seed="empty")
    try:
        server.stop()
        log = (tmp_path / "server.log").read_text()
    finally:
        server.stop()
    for needle in (
        "instance URL   https://127.0.0.1:",
        "login URL      https://localhost:",
        "3MVG9sfsim",
        "sfsim-client-secret",
        "admin@sfsim.example.com",
        "sfsim-admin-1",
        "ca.pem",
    ):
        assert needle in log
    assert (tmp_path / "ca.pem").read_text().startswith("-----BEGIN CERTIFICATE-----")
