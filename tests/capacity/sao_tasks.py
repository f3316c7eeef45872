"""Real tasks performed in sao (the web client) through Playwright and Debian's chromium.

Used twice: to record the scenario files (`python sao_tasks.py URL DB LOGIN PASSWORD TASK...`,
with the recorder on) and by the test proving that a recording through a real client holds no
secret. Each task is followed by an idle pause, which is where `loadtest record` cuts steps.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

CHROMIUM = "/usr/bin/chromium"
PAUSE = 2.5  # seconds of idle between tasks: more than the converter's default gap
SETTLE = 1.5  # seconds for sao's calls to finish after an action


def settle(page, seconds: float = SETTLE) -> None:
    page.wait_for_load_state("networkidle")
    time.sleep(seconds)


def login(page, url: str, login_name: str, password: str) -> None:
    page.goto(url)
    page.wait_for_selector("#login")
    page.fill("#login", login_name)
    page.keyboard.press("Enter")
    page.wait_for_selector("input[type=password]")
    page.fill("input[type=password]", password)
    page.keyboard.press("Enter")
    page.wait_for_selector("text=Administration")
    settle(page)


def open_menu(page, *path: str) -> None:
    """Click through the menu tree: each name is looked for below the row clicked before it."""
    position = -1
    for name in path:
        rows = page.locator("tr")
        texts = [text.strip() for text in rows.all_inner_texts()]
        position = texts.index(name, position + 1)
        rows.nth(position).click()
        settle(page, 0.8)
    settle(page)


def search(page, text: str) -> None:
    box = page.locator("#tabcontent input[placeholder=Search]:visible").first
    box.fill(text)
    box.press("Enter")
    settle(page)


def open_first_row(page) -> None:
    page.locator("#tabcontent .treeview tbody tr:visible").first.dblclick()
    settle(page)


def sales_list(page) -> None:
    open_menu(page, "Sales", "Sales")
    page.locator("a", has_text="Processing").first.click()
    settle(page)
    page.locator("a", has_text="All").first.click()
    settle(page)


def sales_search_open(page) -> None:
    search(page, 'Party: "Customer 001"')
    open_first_row(page)


def fill_many2one(scope, page, field: str, text: str) -> None:
    """Type into a many2one (sao calls autocomplete as one types) and pick the first match."""
    widget = scope.locator(f"input[name={field}]:visible").first
    widget.click()
    widget.type(text, delay=120)
    settle(page, 1.0)
    choice = scope.locator(".dropdown-completion:visible li.completion a").first
    choice.wait_for()
    choice.click()
    settle(page, 2.0)


LINES_NEW = (
    "xpath=//label[text()='Lines']/following-sibling::div"
    "[contains(@class,'form-one2many-toolbar')]//button[@title='New']"
)


def sale_create(page) -> None:
    open_menu(page, "Sales", "Sales")
    page.locator(
        "#tabcontent a[title=New]:visible, #tabcontent button[title=New]:visible"
    ).first.click()
    settle(page)
    form = page.locator("#tabcontent")
    fill_many2one(form, page, "party", "Customer 00")
    for product in ("Product 001", "Product 002"):
        page.locator(LINES_NEW).first.click()
        settle(page)
        dialog = page.locator(".modal-dialog:visible").last
        fill_many2one(dialog, page, "product", product)
        quantity = dialog.locator("input[name=quantity]:visible").first
        quantity.click()
        quantity.press("Control+a")
        quantity.type("3", delay=120)
        quantity.press("Tab")
        settle(page, 2.0)
        dialog.get_by_role("button", name="Add", exact=True).click()
        settle(page)
    page.keyboard.press("Control+s")
    settle(page)
    for button in ("Quote", "Confirm"):
        page.locator("#tabcontent button:visible", has_text=button).first.click()
        settle(page, 2.5)


def party_lookup(page) -> None:
    open_menu(page, "Parties", "Parties")
    search(page, "Customer 003")
    open_first_row(page)


def product_stock(page) -> None:
    open_menu(page, "Products", "Products")
    open_first_row(page)


def invoice_post(page) -> None:
    open_menu(page, "Financial", "Invoices", "Customer Invoices")
    open_first_row(page)
    settle(page, 2.0)
    page.locator("#tabcontent").get_by_role("button", name="Post", exact=True).click()
    settle(page, 0.5)
    page.locator(".modal-dialog:visible").get_by_role("button", name="OK").click()
    settle(page, 2.5)


def invoice_report(page) -> None:
    page.locator("#tabcontent [title='Print report']:visible").first.click()
    settle(page, 0.5)
    page.locator(".dropdown-menu:visible li a", has_text="Invoice").first.click()
    settle(page, 2.5)


TASKS: dict[str, Callable] = {
    "sales_list": sales_list,
    "sales_search_open": sales_search_open,
    "sale_create": sale_create,
    "party_lookup": party_lookup,
    "product_stock": product_stock,
    "invoice_post": invoice_post,
    "invoice_report": invoice_report,
}


def run(url: str, login_name: str, password: str, tasks: list[str], shots: str = "") -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 900}, accept_downloads=True)
        try:
            login(page, url, login_name, password)
            time.sleep(PAUSE)
            for task in tasks:
                TASKS[task](page)
                time.sleep(PAUSE)
        finally:
            if shots:
                page.screenshot(path=shots)
            browser.close()


if __name__ == "__main__":
    run(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:])
