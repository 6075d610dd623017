"""The chat page in headless Chromium (Debian's chromium, driven by Playwright).

Run by tests/page.rs: python page.py http://127.0.0.1:PORT /usr/bin/chromium
"""

import sys

from playwright.sync_api import expect, sync_playwright

URL, CHROMIUM = sys.argv[1], sys.argv[2]
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

with sync_playwright() as p:
    browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
    page = browser.new_page()
    errors = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.goto(URL)

    # The agents are offered; pick the seed agent.
    expect(page.locator("#agent option")).to_have_count(3)
    page.select_option("#agent", "seed")
    expect(page.locator("#status")).to_have_text("ready")

    # Chat: the three calls appear with live bars, then finish with their durations.
    page.fill("#message", "Please run all tasks")
    page.click("#send")
    expect(page.locator(".msg.user")).to_have_text("YouPlease run all tasks")
    rows = page.locator(".tool-row")
    expect(rows).to_have_count(3)
    expect(page.locator(".tool-row.done")).to_have_count(3, timeout=10_000)
    calls = rows.locator(".call").all_inner_texts()
    assert calls == ["atask2(delay=400)", "atask1(delay=400)", "atask3(delay=400)"], calls
    for row in rows.all():
        width = row.locator(".bar").evaluate("b => b.getBoundingClientRect().width")
        assert width > 10, f"a bar of {width}px"
        time = row.locator(".time").inner_text()
        assert time.endswith("ms") or time.endswith("s"), time
        duration = float(time[:-2]) / 1000 if time.endswith("ms") else float(time[:-1])
        assert 0.35 < duration < 2.0, f"a call of {time}"
    assert not page.locator(".tool-row.running").count()
    answer = page.locator(".msg.assistant .content").last
    expect(answer).to_contain_text("Task 1 completed in 400ms")
    expect(page.locator("#status")).to_have_text("completed")

    # The session is listed; a new chat is empty; the session opens again with its messages.
    item = page.locator(".session-item", has_text="Please run all tasks")
    expect(item).to_have_count(1)
    expect(item).to_have_class("session-item active")
    page.click("#new-chat")
    expect(page.locator(".msg")).to_have_count(0)
    item.click()
    expect(page.locator(".msg.user")).to_have_count(1)
    expect(page.locator(".msg.assistant")).to_contain_text("Task 3 completed in 400ms")

    # A call that needs confirmation: approve it in the page.
    page.select_option("#agent", "confirm")
    page.fill("#message", "Delete /tmp/x")
    page.click("#send")
    page.get_by_role("button", name="Approve").click()
    expect(page.locator(".msg.assistant .content").last).to_have_text("Done.")
    expect(page.locator(".session-item")).to_have_count(1)

    # Model text is shown as text, never as markup.
    assert page.locator(".msg script").count() == 0
    assert not errors, errors
    browser.close()
    print("page: all ok")
