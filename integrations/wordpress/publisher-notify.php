<?php
/**
 * Plugin Name: publisher notify
 * Description: Tells publisher (the newsroom's social desk) the moment a post is published, updated or unpublished, so it is shared within seconds instead of at the next poll.
 * Version:     1.0.0
 * Requires at least: 5.6
 * Requires PHP: 7.4
 * License:     MIT
 *
 * Install
 * -------
 * 1. Copy this file to wp-content/plugins/publisher-notify.php (or into
 *    wp-content/mu-plugins/ so nobody can switch it off by mistake).
 * 2. In wp-config.php, above "That's all, stop editing!":
 *
 *        define( 'PUBLISHER_NOTIFY_URL', 'https://publisher.example.org/hooks/wordpress/site' );
 *        define( 'PUBLISHER_NOTIFY_SECRET', 'the same long random value as publisher's WP_HOOK_SECRET' );
 *
 *    The URL ends with the feed's name from publisher's schedules/*.toml; that
 *    feed has  hook_secret_env = "WP_HOOK_SECRET"  and the variable is set in
 *    publisher's .env (make one with: openssl rand -hex 32).
 * 3. Activate "publisher notify" under Plugins (not needed in mu-plugins).
 * 4. Publish a post and look for "push: status=planned" in publisher's log
 *    (journalctl -u publisher), or the publisher_push_hooks_total metric.
 *
 * What it sends
 * -------------
 * POST <PUBLISHER_NOTIFY_URL> with the JSON body {"event": "published" |
 * "updated" | "unpublished", "post_id": 123, "url": "<permalink>"} and
 *
 *     X-Publisher-Timestamp: <Unix seconds>
 *     X-Publisher-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>
 *
 * publisher checks the signature, refuses notices older than 5 minutes and
 * replays, and then reads the post itself through the REST API: the notice
 * only says *which* post, never what it says.  Notices are sent when the
 * request ends (the "shutdown" action), after WordPress has saved the post's
 * categories and tags, and one per post per request.  A notice that is lost
 * costs nothing but time: publisher's polling picks the post up anyway.
 */

if ( ! defined( 'ABSPATH' ) ) {
	exit;
}

final class Publisher_Notify {

	/** @var array<int, string> post id => event, for this request */
	private static $pending = array();

	public static function init() {
		add_action( 'transition_post_status', array( __CLASS__, 'on_transition' ), 10, 3 );
		add_action( 'post_updated', array( __CLASS__, 'on_updated' ), 10, 3 );
		add_action( 'shutdown', array( __CLASS__, 'flush' ) );
	}

	/** Which post types are announced (filter: publisher_notify_post_types). */
	private static function wanted( $post ) {
		if ( ! $post instanceof WP_Post ) {
			return false;
		}
		if ( wp_is_post_revision( $post ) || wp_is_post_autosave( $post ) ) {
			return false;
		}
		$types = apply_filters( 'publisher_notify_post_types', array( 'post' ) );
		return in_array( $post->post_type, (array) $types, true );
	}

	public static function on_transition( $new_status, $old_status, $post ) {
		if ( ! self::wanted( $post ) || $new_status === $old_status ) {
			return;
		}
		if ( 'publish' === $new_status ) {
			self::$pending[ $post->ID ] = 'published';
		} elseif ( 'publish' === $old_status ) {
			self::$pending[ $post->ID ] = 'unpublished';
		}
	}

	public static function on_updated( $post_id, $post_after, $post_before ) {
		if ( ! self::wanted( $post_after ) ) {
			return;
		}
		if ( 'publish' === $post_after->post_status && 'publish' === $post_before->post_status
			&& ! isset( self::$pending[ $post_id ] ) ) {
			self::$pending[ $post_id ] = 'updated';
		}
	}

	public static function flush() {
		if ( ! self::$pending || ! defined( 'PUBLISHER_NOTIFY_URL' ) || ! defined( 'PUBLISHER_NOTIFY_SECRET' ) ) {
			return;
		}
		foreach ( self::$pending as $post_id => $event ) {
			self::send( (int) $post_id, $event );
		}
		self::$pending = array();
	}

	private static function send( $post_id, $event ) {
		$body      = wp_json_encode(
			array(
				'event'   => $event,
				'post_id' => $post_id,
				'url'     => (string) get_permalink( $post_id ),
			)
		);
		$timestamp = (string) time();
		$signature = 'sha256=' . hash_hmac( 'sha256', $timestamp . '.' . $body, PUBLISHER_NOTIFY_SECRET );
		$response  = wp_remote_post(
			PUBLISHER_NOTIFY_URL,
			array(
				'body'     => $body,
				'timeout'  => 5,
				// Wait for the answer only when debugging: an editor's save
				// must not wait for publisher.
				'blocking' => defined( 'WP_DEBUG' ) && WP_DEBUG,
				'headers'  => array(
					'Content-Type'          => 'application/json',
					'X-Publisher-Timestamp' => $timestamp,
					'X-Publisher-Signature' => $signature,
				),
			)
		);
		if ( defined( 'WP_DEBUG' ) && WP_DEBUG ) {
			$code = is_wp_error( $response ) ? $response->get_error_message() : wp_remote_retrieve_response_code( $response );
			error_log( sprintf( 'publisher-notify: post %d %s -> %s', $post_id, $event, $code ) );
		}
	}
}

Publisher_Notify::init();
