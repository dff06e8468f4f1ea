# ruff: noqa: E501 - the PHP harness is kept as PHP is written
"""integrations/wordpress/publisher-notify.php run by PHP against the running
listener: WordPress's hook API is played by a small PHP harness (add_action,
do_action, wp_remote_post over real HTTP), the plugin is loaded unchanged,
and publisher must accept its signed notices.  Skipped when php is missing."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.integration.test_web import SECRET, web, wp  # noqa: F401 - fixtures

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = ROOT / "integrations" / "wordpress" / "publisher-notify.php"

# The parts of WordPress the plugin calls, as WordPress defines them
# (developer.wordpress.org/reference/functions/...), minimal but faithful.
HARNESS = r"""<?php
define('ABSPATH', __DIR__ . '/');
define('WP_DEBUG', true);
define('PUBLISHER_NOTIFY_URL', getenv('NOTIFY_URL'));
define('PUBLISHER_NOTIFY_SECRET', getenv('NOTIFY_SECRET'));
class WP_Post { public $ID; public $post_type = 'post'; public $post_status;
  function __construct($id, $status, $type = 'post') { $this->ID = $id; $this->post_status = $status; $this->post_type = $type; } }
class WP_Error { public $m; function __construct($m) { $this->m = $m; } function get_error_message() { return $this->m; } }
$GLOBALS['actions'] = array();
function add_action($hook, $cb, $prio = 10, $args = 1) { $GLOBALS['actions'][$hook][] = array($cb, $args); }
function do_action($hook, ...$args) { foreach ($GLOBALS['actions'][$hook] ?? array() as $a) { call_user_func_array($a[0], array_slice($args, 0, $a[1])); } }
function apply_filters($hook, $value) { return $value; }
function wp_is_post_revision($p) { return false; }
function wp_is_post_autosave($p) { return false; }
function wp_json_encode($v) { return json_encode($v); }
function get_permalink($id) { return 'https://news.example/?p=' . $id; }
function is_wp_error($r) { return $r instanceof WP_Error; }
function wp_remote_retrieve_response_code($r) { return $r['response']['code']; }
function wp_remote_post($url, $args) {
  $headers = '';
  foreach ($args['headers'] as $k => $v) { $headers .= "$k: $v\r\n"; }
  $ctx = stream_context_create(array('http' => array('method' => 'POST', 'header' => $headers,
    'content' => $args['body'], 'timeout' => $args['timeout'], 'ignore_errors' => true)));
  $body = @file_get_contents($url, false, $ctx);
  if ($body === false) { return new WP_Error('no answer'); }
  preg_match('#HTTP/\S+ (\d+)#', $http_response_header[0], $m);
  echo json_encode(array('code' => (int) $m[1], 'body' => json_decode($body, true))), "\n";
  return array('response' => array('code' => (int) $m[1]));
}
require getenv('PLUGIN');
// An editor publishes post 42 (WordPress fires both hooks on that save),
// then updates a published post 43, then saves a draft, then a page.
$draft = new WP_Post(42, 'draft'); $live = new WP_Post(42, 'publish');
do_action('transition_post_status', 'publish', 'draft', $live);
do_action('post_updated', 42, $live, $draft);
do_action('post_updated', 43, new WP_Post(43, 'publish'), new WP_Post(43, 'publish'));
do_action('transition_post_status', 'draft', 'draft', new WP_Post(44, 'draft'));
do_action('transition_post_status', 'publish', 'draft', new WP_Post(45, 'publish', 'page'));
do_action('shutdown');
"""


@pytest.fixture
def php() -> str:
    found = shutil.which("php")
    if found is None:
        pytest.skip("php is not installed (Debian: apt-get install php-cli)")
    return found


def test_plugin_lints(php):
    done = subprocess.run([php, "-l", str(PLUGIN)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_plugin_notices_are_accepted_and_the_post_planned(php, web, tmp_path):  # noqa: F811
    web.wp.put(42, "Published from WordPress")
    web.wp.put(43, "An older story, edited")
    harness = tmp_path / "harness.php"
    harness.write_text(HARNESS)
    done = subprocess.run(
        [php, str(harness)], capture_output=True, text=True, timeout=60,
        env={"NOTIFY_URL": f"{web.server.url}/hooks/wordpress/site", "NOTIFY_SECRET": SECRET,
             "PLUGIN": str(PLUGIN), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stdout + done.stderr
    answers = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(a["code"], a["body"]["status"]) for a in answers] == [
        (202, "planned"), (202, "planned")]
    texts = sorted(p.text for p in web.app.store.list_posts())
    assert "Published from WordPress" in texts[1] and "An older story" in texts[0]


def test_plugin_with_a_wrong_secret_is_refused(php, web, tmp_path):  # noqa: F811
    web.wp.put(42, "Published from WordPress")
    harness = tmp_path / "harness.php"
    harness.write_text(HARNESS)
    done = subprocess.run(
        [php, str(harness)], capture_output=True, text=True, timeout=60,
        env={"NOTIFY_URL": f"{web.server.url}/hooks/wordpress/site",
             "NOTIFY_SECRET": "not-the-secret", "PLUGIN": str(PLUGIN), "PATH": "/usr/bin:/bin"})
    answers = [json.loads(line) for line in done.stdout.splitlines()]
    assert [a["code"] for a in answers] == [401, 401]
    assert web.app.store.list_posts() == []
