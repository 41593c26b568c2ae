"""The backoffice in headless Chromium, as staff use it: sign in, create a partner user with a
generated password, read the password off the page; then the partner logs in over FTP with it
and uploads an order file, which shows up on the page as processed. The browser's console must
stay free of errors throughout.

Usage: e2e.py BASE_URL ADMIN PASSWORD FTP_PORT CSV_FILE SCREENSHOT
Prints what it did; exits 1 with the reason on the first failure.
"""

import ftplib
import io
import os
import sys
import tempfile

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ready
from selenium.webdriver.support.ui import WebDriverWait


def browser(profile):
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-features=Translate,OptimizationHints,MediaRouter",
        "--window-size=1280,1600",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def main():
    base, admin, password, ftp_port, csv_file, screenshot = sys.argv[1:7]
    with tempfile.TemporaryDirectory() as profile:
        driver = browser(profile)
        try:
            run(driver, base, admin, password, int(ftp_port), csv_file)
        except Exception:
            driver.save_screenshot(screenshot)
            print("page at failure:", driver.current_url, file=sys.stderr)
            print(driver.find_element(By.TAG_NAME, "body").text[:3000], file=sys.stderr)
            raise
        finally:
            logs = driver.get_log("browser")
            driver.quit()
    errors = [entry for entry in logs if entry.get("level") == "SEVERE"]
    for entry in logs:
        print("console:", entry.get("level"), entry.get("message"))
    if errors:
        print("browser console errors:", errors, file=sys.stderr)
        sys.exit(1)
    print("OK")


def run(driver, base, admin, password, ftp_port, csv_file):
    wait = WebDriverWait(driver, 20)
    driver.get(base + "/")
    # Not signed in: the page sends us to the login form.
    wait.until(ready.url_contains("/login"))
    driver.find_element(By.ID, "name").send_keys(admin)
    driver.find_element(By.ID, "password").send_keys(password)
    driver.find_element(By.ID, "sign-in").click()
    wait.until(ready.text_to_be_present_in_element((By.ID, "admin-name"), admin))
    print("signed in as", admin)

    driver.find_element(By.ID, "new-name").send_keys("carrier1")
    driver.find_element(By.ID, "new-customer").send_keys("1234")
    driver.find_element(By.ID, "new-create").click()
    wait.until(lambda d: d.find_element(By.ID, "generated-password").text.strip() != "")
    generated = driver.find_element(By.ID, "generated-password").text.strip()
    assert len(generated) == 20, f"unexpected generated password {generated!r}"
    wait.until(ready.presence_of_element_located((By.CSS_SELECTOR, "tr[data-user=carrier1]")))
    row = driver.find_element(By.CSS_SELECTOR, "tr[data-user=carrier1]").text
    assert "FTP" in row and "SFTP" in row, f"protocol badges missing in {row!r}"
    print("created carrier1; generated password read from the page")

    # The partner logs in with the password from the page and uploads an order file.
    with open(csv_file, "rb") as f:
        content = f.read()
    ftp = ftplib.FTP()
    ftp.connect("127.0.0.1", ftp_port, timeout=20)
    ftp.login("carrier1", generated)
    ftp.storbinary("STOR orders.csv", io.BytesIO(content))
    ftp.quit()
    print("uploaded orders.csv over FTP as carrier1")

    driver.find_element(By.CSS_SELECTOR, "button[data-open=carrier1]").click()
    wait.until(ready.text_to_be_present_in_element((By.ID, "detail-name"), "carrier1"))
    WebDriverWait(driver, 30).until(
        ready.presence_of_element_located(
            (By.CSS_SELECTOR, "#incoming tr[data-file='orders.csv'][data-state=done]")
        )
    )
    processed = driver.find_element(By.CSS_SELECTOR, "#incoming tr[data-file='orders.csv']").text
    assert "processed" in processed and "1 shipment," in processed, processed
    print("the page shows orders.csv as processed:", processed)
    # The last login shows the protocol the partner used.
    wait.until(
        lambda d: "FTP" in d.find_element(By.CSS_SELECTOR, "tr[data-user=carrier1] td:nth-child(5)").text
    )
    if os.environ.get("FREIGHTDROP_E2E_SCREENSHOT"):
        driver.save_screenshot(os.environ["FREIGHTDROP_E2E_SCREENSHOT"])


if __name__ == "__main__":
    main()
