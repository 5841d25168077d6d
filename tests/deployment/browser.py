"""Headless Chromium (Debian's package) driven by Selenium, and the Airflow UI pages the tests use.

Selenium is given the browser and the driver explicitly, so it never downloads one.
``python3 dev.py test`` installs both (``apt-get install chromium chromium-driver``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.remote.webelement import WebElement

CHROMIUM = os.environ.get("KALEYRA_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("KALEYRA_TEST_CHROMEDRIVER", "/usr/bin/chromedriver")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",  # the tests run as root in CI
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,1100",
)


def browser_missing() -> str | None:
    """Why the browser cannot start here, or None when it can."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            return f"{path} is not installed (python3 dev.py test installs chromium and chromium-driver)"
    return None


class Chromium:
    """One headless Chromium with a fresh profile; :meth:`quit` ends it and removes the profile."""

    def __init__(self) -> None:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        self.profile = Path(tempfile.mkdtemp(prefix="kaleyra-chromium-"))
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={self.profile}"):
            options.add_argument(flag)
        self.driver: WebDriver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)

    def quit(self) -> None:
        try:
            self.driver.quit()
        finally:
            shutil.rmtree(self.profile, ignore_errors=True)

    def screenshot(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.driver.save_screenshot(str(path))
        return path


def wait_for(what: str, find: Any, timeout: float = 30.0) -> Any:
    """Call ``find`` until it returns something truthy; raise naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            found = find()
        except Exception as error:  # the page is still rendering: elements come and go
            last = error
        else:
            if found:
                return found
        time.sleep(0.2)
    raise TimeoutError(f"gave up waiting for {what}" + (f" (last error: {last})" if last else ""))


class AirflowUi:
    """The pages of the Airflow 3 UI a user goes through to add a connection.

    :param driver: a Selenium driver.
    :param base_url: the API server that serves the UI.
    """

    def __init__(self, driver: WebDriver, base_url: str) -> None:
        self.driver = driver
        self.base_url = base_url.rstrip("/")

    def _by(self) -> Any:
        from selenium.webdriver.common.by import By

        return By

    def log_in(self, username: str, password: str) -> None:
        """Sign in on the simple auth manager's login page."""
        from selenium.webdriver.common.keys import Keys

        by = self._by()
        self.driver.get(f"{self.base_url}/")
        user = wait_for("the login form", lambda: self.driver.find_element(by.NAME, "username"))
        user.send_keys(username)
        self.driver.find_element(by.CSS_SELECTOR, "input[type=password]").send_keys(password + Keys.ENTER)
        wait_for("the home page after login", lambda: "/auth/login" not in self.driver.current_url)

    def open_add_connection(self) -> WebElement:
        """Admin -> Connections -> Add Connection; return the dialog."""
        by = self._by()
        self.driver.get(f"{self.base_url}/connections")
        self.button("Add Connection").click()
        return wait_for("the Add Connection dialog", lambda: self.driver.find_element(by.CSS_SELECTOR, "[role=dialog]"))

    def button(self, text: str, within: WebElement | None = None) -> WebElement:
        by = self._by()
        scope = within or self.driver
        return wait_for(
            f"the {text!r} button",
            lambda: next(
                (b for b in scope.find_elements(by.TAG_NAME, "button") if b.text.strip() == text and b.is_displayed()),
                None,
            ),
        )

    def choose(self, combobox_owner: WebElement, option: str) -> list[str]:
        """Open a drop-down, pick ``option``; return every option it offered."""
        by = self._by()
        combobox = combobox_owner.find_element(by.CSS_SELECTOR, "input[role=combobox]")
        combobox.click()
        options = wait_for(
            "the drop-down's options", lambda: self.driver.find_elements(by.CSS_SELECTOR, "[role=option]")
        )
        offered = [o.text.strip() for o in options]
        next(o for o in options if o.text.strip() == option).click()
        return offered

    def choose_connection_type(self, dialog: WebElement, label: str) -> None:
        """Type into the connection type search and pick ``label`` (the list has ~100 types)."""
        from selenium.webdriver.common.keys import Keys

        by = self._by()
        combobox = dialog.find_element(by.CSS_SELECTOR, "input[role=combobox]")
        combobox.send_keys(label)
        wait_for(f"{label!r} among the connection types", lambda: any(
            o.text.strip() == label for o in self.driver.find_elements(by.CSS_SELECTOR, "[role=option]")
        ))
        combobox.send_keys(Keys.ENTER)
        wait_for("the fields of the connection type", lambda: dialog.find_elements(by.NAME, "login"))

    def save(self, dialog: WebElement) -> None:
        """Click Save once it is enabled, and wait for the dialog to close."""
        save = self.button("Save", dialog)
        wait_for("the Save button to be enabled", save.is_enabled)
        save.click()
        wait_for("the dialog to close after Save", lambda: not self._dialog_open())

    def _dialog_open(self) -> bool:
        by = self._by()
        return any(d.is_displayed() for d in self.driver.find_elements(by.CSS_SELECTOR, "[role=dialog]"))

    def visible_labels(self, dialog: WebElement) -> list[str]:
        by = self._by()
        labels = dialog.find_elements(by.TAG_NAME, "label")
        return [lab.text.replace("*", "").strip() for lab in labels if lab.is_displayed()]

    def field(self, dialog: WebElement, name: str) -> WebElement:
        by = self._by()
        return wait_for(f"the field {name!r}", lambda: dialog.find_element(by.NAME, name))

    def type_into(self, element: WebElement, text: str) -> None:
        element.clear()
        element.send_keys(text)

    def fill_extra_json(self, dialog: WebElement, text: str) -> None:
        """Replace the content of the "Extra Fields JSON" editor with ``text``."""
        from selenium.webdriver.common.keys import Keys

        by = self._by()
        editor = wait_for(
            "the extra JSON editor",
            lambda: next(
                (
                    e
                    for e in dialog.find_elements(by.CSS_SELECTOR, "textarea, [contenteditable=true]")
                    if e.is_displayed() and e.get_attribute("name") != "description"
                ),
                None,
            ),
        )
        editor.click()
        editor.send_keys(Keys.CONTROL, "a")
        editor.send_keys(Keys.DELETE)
        editor.send_keys(text)
        # Leave the editor before saving: it reformats the JSON on blur, and a click on
        # Save that is also the blur would be spent on the re-render.
        dialog.find_element(by.TAG_NAME, "h2").click()


class FabUi:
    """Airflow 2.11's UI (Flask-AppBuilder): the login page and the connection form."""

    def __init__(self, driver: WebDriver, base_url: str) -> None:
        self.driver = driver
        self.base_url = base_url.rstrip("/")

    def log_in(self, username: str, password: str) -> None:
        from selenium.webdriver.common.by import By
        from selenium.webdriver.common.keys import Keys

        self.driver.get(f"{self.base_url}/login/")
        wait_for("the login form", lambda: self.driver.find_element(By.ID, "username")).send_keys(username)
        self.driver.find_element(By.ID, "password").send_keys(password + Keys.ENTER)
        wait_for("the home page after login", lambda: "/login" not in self.driver.current_url)

    def open_add_connection(self) -> WebElement:
        """Admin -> Connections -> "+"; return the form."""
        from selenium.webdriver.common.by import By

        self.driver.get(f"{self.base_url}/connection/add")
        return wait_for("the connection form", lambda: self.driver.find_element(By.ID, "model_form"))

    def choose_connection_type(self, form: WebElement, label: str) -> None:
        """Open the Select2 drop-down of connection types, type ``label``, press Enter."""
        from selenium.webdriver.common.by import By
        from selenium.webdriver.common.keys import Keys

        form.find_element(By.CSS_SELECTOR, ".select2-container").click()
        search = wait_for(
            "the connection type search box",
            lambda: next((e for e in self.driver.find_elements(By.CSS_SELECTOR, "input.select2-input, "
                          "input.select2-search__field") if e.is_displayed()), None),
        )  # fmt: skip
        search.send_keys(label)
        wait_for(f"{label!r} among the connection types", lambda: any(
            r.text.strip() == label for r in self.driver.find_elements(By.CSS_SELECTOR, ".select2-result-label, "
                                                                        ".select2-results__option")
        ))  # fmt: skip
        search.send_keys(Keys.ENTER)

    def visible_labels(self, form: WebElement) -> list[str]:
        from selenium.webdriver.common.by import By

        labels = form.find_elements(By.TAG_NAME, "label")
        return [lab.text.replace("*", "").strip() for lab in labels if lab.is_displayed()]

    def field(self, form: WebElement, element_id: str) -> WebElement:
        from selenium.webdriver.common.by import By

        return form.find_element(By.ID, element_id)

    def save(self, form: WebElement) -> None:
        from selenium.webdriver.common.by import By

        [save] = [b for b in form.find_elements(By.CSS_SELECTOR, "[type=submit]") if "Save" in b.get_attribute("value")
                  + b.text]  # fmt: skip
        save.click()
        wait_for("the page after Save", lambda: "/connection/add" not in self.driver.current_url)
