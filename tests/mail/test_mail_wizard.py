"""Issue 15's round trip through the wizard: the request file the WIZARD saves
(Pilot: Method -> "Manually (using a file)" -> save), mailed to the center's
Maildir, answered by ``licwiz center mail --once`` over real SMTP (aiosmtpd),
and the reply's attachment installed by the wizard's "Specify license details
file" step. The center is a real ``licwiz center serve`` process whose database
the mail desk shares, as on a vendor's host."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from licwiz.core.storage import license_dir, state_dir
from support.fixtures_offline import OFF_OWNER
from support.fixtures_wizard import to_method

from .conftest import DESK, Desk

pytestmark = pytest.mark.slow


async def test_a_request_saved_by_the_wizard_comes_back_by_mail_and_the_wizard_installs_it(
    center_factory: Any, wizard_run: Any, smtp_sink: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    center = center_factory(settings={"email": DESK})
    kit = center.create_kit(users=1, pins=2)
    monkeypatch.setenv("LICWIZ_TRUSTED_KEYS", str(center.trusted_keys))
    monkeypatch.setenv("LICWIZ_CENTER_EMAIL", DESK)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    maildir = tmp_path / "Maildir"
    for sub in ("new", "cur", "tmp"):
        (maildir / sub).mkdir(parents=True)
    desk = Desk(center, kit, maildir, tmp_path / "unused-owner.json", smtp_sink, tmp_path)

    # 1. The wizard saves the request file and names the desk's address; then it is closed.
    async with wizard_run(center.url) as d:
        await to_method(d, kit.regnum, kit.single_pins[0], OFF_OWNER)
        await d.pick("#method", "file", "file_request")
        assert DESK in d.text("#sequence")
        await d.press("enter")  # Enter in the path field saves
        await d.wait(lambda: bool(d.state.request_file), what="request file saved")
        request_file = Path(d.state.request_file)
    assert request_file.parent == work and list((state_dir() / "pending").glob("*.json"))

    # 2. The customer mails it; the desk answers from its Maildir.
    msg = desk.message(text="My license request is attached.",
                       attachments=((request_file.name, request_file.read_bytes()),))
    desk.deliver(msg)
    r = desk.mail()
    assert r.returncode == 0, r.stderr
    [reply] = smtp_sink.wait_for(1)
    assert reply["In-Reply-To"] == msg["Message-ID"]
    lic_name = f"{kit.regnum}-001.lic"
    files = desk.attachments_of(reply)
    assert list(files) == [lic_name]
    assert "Specify license details file" in desk.body_of(reply)
    (work / lic_name).write_bytes(files[lic_name])  # saved from the mail client next to the request

    # 3. The wizard, reopened: "Specify license details file" finds and installs it.
    async with wizard_run(center.url) as d:
        await d.pick("#action", "license_file", "file_install")
        assert kit.regnum in d.text("#pending")
        assert d.screen.query_one("#license_path").value == str(work / lic_name)
        await d.press("enter")
        await d.at("final", timeout=30)
        summary = d.text("#summary")
        assert f"{kit.regnum}-001" in summary and "Users: 1" in summary
    installed = license_dir("all-users")
    assert sorted(p.name for p in installed.glob("*.lic")) == [lic_name]
    assert not list((state_dir() / "pending").glob("*.json"))  # the pending request is done
    # The center issued it by file, through the desk: one PIN spent.
    issue = [row for row in desk.audit() if row["event"] == "issue"]
    assert [(row["actor"], row["license_id"]) for row in issue] == [("mail", f"{kit.regnum}-001")]
