// SPDX-License-Identifier: ISC
/*
 * The page at GET /: asks POST tiktok (the API beside this page, under
 * the same prefix) and shows the answer.  What TikTok wrote (titles,
 * names) only ever becomes text (textContent): never markup.  Links are
 * shown only when they are http(s).
 */
(function () {
	'use strict';

	const TIMEOUT_MS = 120000;
	/* download_link's keys we know: [name, what it is]; others are
	   shown by their key, so new kinds appear without a change here. */
	const KNOWN = {
		no_watermark_hd: ['Video HD', 'No watermark'],
		no_watermark: ['Video', 'No watermark'],
		watermark_hd: ['Video HD', 'Another HD file, no watermark'],
		watermark: ['Video', 'With TikTok\u2019s watermark'],
		mp3: ['MP3', 'Sound only']
	};
	const FIRST = ['no_watermark_hd', 'no_watermark', 'watermark_hd'];
	const LAST = ['watermark', 'mp3'];
	const WORDS = { hd: 'HD', sd: 'SD', hevc: 'HEVC', h264: 'H.264',
	    h265: 'H.265', mp3: 'MP3', mp4: 'MP4', url: 'URL' };

	const $ = (id) => document.getElementById(id);
	const root = document.documentElement;
	const form = $('form');
	const input = $('url');
	const status = $('status');
	const result = $('result');
	const cover = $('cover');
	const siteName = document.title;
	let current = null;

	function node(tag, cls, text) {
		const e = document.createElement(tag);
		if (cls)
			e.className = cls;
		if (text !== undefined)
			e.textContent = text;
		return e;
	}

	/* An http(s) URL as the browser resolves it, or null. */
	function safe(href) {
		if (typeof href !== 'string' || href === '')
			return null;
		try {
			const u = new URL(href, document.baseURI);
			return u.protocol === 'https:' || u.protocol === 'http:' ?
			    u.href : null;
		} catch (e) {
			return null;
		}
	}

	function text(v) {
		return typeof v === 'string' ? v.trim() : '';
	}

	function duration(ms) {
		const s = Math.round(ms / 1000);
		const m = Math.floor(s / 60);
		return m + ':' + String(s % 60).padStart(2, '0');
	}

	function count(n, one, many) {
		const f = new Intl.NumberFormat(undefined,
		    { notation: n >= 10000 ? 'compact' : 'standard' });
		return f.format(n) + ' ' + (n === 1 ? one : many);
	}

	/* "no_watermark_hevc" -> "No watermark HEVC". */
	function human(key) {
		const w = key.split(/[_\-\s]+/).filter(Boolean).map((x) =>
		    WORDS[x.toLowerCase()] || x.toLowerCase());
		if (w.length === 0)
			return 'File';
		w[0] = w[0].charAt(0).toUpperCase() + w[0].slice(1);
		return w.join(' ');
	}

	function setState(s, message, error) {
		root.dataset.state = s;
		status.textContent = message || '';
		status.classList.toggle('error', !!error);
		form.setAttribute('aria-busy', s === 'busy' ? 'true' : 'false');
	}

	/* One download: a plain link to our route, marked as a download. */
	function fileLink(href, name, what) {
		const a = node('a', 'file');
		const label = node('span');
		a.href = href;
		a.setAttribute('download', '');
		label.append(node('span', 'name', name),
		    node('span', 'what', what));
		const icon = node('span', 'icon', '\u2193');
		icon.setAttribute('aria-hidden', 'true');
		a.append(label, icon);
		return a;
	}

	/* [href, name, what] of one link, or of each of a list. */
	function links(v, name, what) {
		const list = Array.isArray(v) ? v : [v];
		return list.map((x, i) => [safe(x), list.length > 1 ?
		    name + ' ' + (i + 1) : name, what]).filter((l) => l[0]);
	}

	/*
	 * The buttons, in the order a person looks for them: the clean
	 * videos, kinds this page does not know, the post's other files
	 * (download_..._link: the slideshow), the watermarked video, MP3.
	 */
	function files(answer) {
		const dl = answer.download_link && typeof answer.download_link ===
		    'object' ? answer.download_link : {};
		const photo = answer.status === 'picker';
		const known = FIRST.concat(LAST);
		let out = [];
		const add = (k) => {
			if (photo && k === 'no_watermark' && Array.isArray(dl[k]))
				return;		/* the photos, shown as photos */
			let [name, what] = KNOWN[k] || [human(k), 'File'];
			if (k === 'no_watermark' && 'no_watermark_hd' in dl)
				name = 'Video SD';
			out = out.concat(links(dl[k], name, what));
		};
		FIRST.filter((k) => k in dl).forEach(add);
		Object.keys(dl).filter((k) => !known.includes(k)).forEach(add);
		for (const k of Object.keys(answer)) {
			const m = /^download_(.+)_link$/.exec(k);
			if (m && m[1] === 'slideshow')
				out = out.concat(links(answer[k], 'Slideshow',
				    'MP4 of the photos with sound'));
			else if (m)
				out = out.concat(links(answer[k], human(m[1]),
				    'File'));
		}
		LAST.filter((k) => k in dl).forEach(add);
		return out;
	}

	function photos(answer) {
		const dl = answer.download_link || {};
		if (answer.status !== 'picker' || !Array.isArray(dl.no_watermark))
			return [];
		return dl.no_watermark.map(safe).filter(Boolean);
	}

	function show(answer) {
		const list = $('files');
		const grid = $('photos');
		const title = text(answer.title) || text(answer.description) ||
		    'Untitled post';
		const author = answer.author && typeof answer.author ===
		    'object' ? answer.author : {};
		const nick = text(author.nickname);
		const pics = photos(answer);
		const facts = [];
		const stats = answer.statistics || {};

		$('title').textContent = title;
		document.title = title + ' \u2013 ' + siteName;
		$('author').textContent = nick && nick !== 'unknown' ?
		    'by ' + nick : '';
		if (pics.length > 0)
			facts.push(count(pics.length, 'photo', 'photos'));
		if (answer.duration > 0)
			facts.push((pics.length > 0 ? 'sound ' : '') +
			    duration(answer.duration));
		if (stats.play_count > 0)
			facts.push(count(stats.play_count, 'play', 'plays'));
		if (stats.digg_count > 0)
			facts.push(count(stats.digg_count, 'like', 'likes'));
		$('facts').textContent = facts.join(' \u00b7 ');

		cover.classList.remove('broken');
		const src = safe(answer.cover) || pics[0];
		if (src)
			cover.src = src;
		else
			cover.removeAttribute('src');

		list.replaceChildren();
		files(answer).forEach(([href, name, what], i) => {
			const li = node('li');
			const a = fileLink(href, name, what);
			if (i === 0 && pics.length === 0)
				a.classList.add('first');
			li.append(a);
			list.append(li);
		});

		grid.replaceChildren();
		pics.forEach((href, i) => {
			const li = node('li');
			const a = node('a', 'photo');
			const img = node('img');
			const cap = node('span', 'cap');
			const icon = node('span', 'icon', '\u2193');
			a.href = href;
			a.setAttribute('download', '');
			img.src = href;
			img.alt = '';	/* the link's caption names it */
			img.width = 360;
			img.height = 480;
			img.loading = 'lazy';
			icon.setAttribute('aria-hidden', 'true');
			const label = node('span');
			label.append(node('span', 'name', 'Photo ' + (i + 1)),
			    node('span', 'what', 'JPEG'));
			cap.append(label, icon);
			a.append(img, cap);
			li.append(a);
			grid.append(li);
		});
		$('photos-head').hidden = grid.hidden = pics.length === 0;
		$('files-head').hidden = list.hidden = !list.firstChild;
		result.hidden = false;
	}

	function clear() {
		result.hidden = true;
		document.title = siteName;
		cover.removeAttribute('src');
	}

	/* Look a link (or share text) up with POST tiktok. */
	function lookup(link) {
		if (current)
			current.abort();
		const ctl = new AbortController();
		let late = false;
		const timer = setTimeout(() => {
			late = true;
			ctl.abort();
		}, TIMEOUT_MS);
		current = ctl;
		clear();
		setState('busy', 'Looking up the post\u2026');
		fetch('tiktok', {
			method: 'POST',
			headers: { 'Content-Type': 'application/json' },
			body: JSON.stringify({ url: link }),
			cache: 'no-store',
			signal: ctl.signal
		}).then((r) => r.text().then((body) => {
			let a = null;
			try {
				a = JSON.parse(body);
			} catch (e) {
				a = null;
			}
			if (current !== ctl)
				return;
			if (r.ok && a && typeof a === 'object' &&
			    a.download_link) {
				show(a);
				setState('done', a.status === 'picker' ?
				    'Found a photo post.' : 'Found a video.');
				$('title').focus();
				return;
			}
			let msg = a && typeof a.error === 'string' && a.error ?
			    a.error : 'The server answered ' + r.status +
			    (r.statusText ? ' ' + r.statusText : '') + '.';
			const wait = parseInt(r.headers.get('Retry-After'), 10);
			if (wait > 0)
				msg += ' Try again in ' + (wait < 120 ? wait +
				    ' seconds.' : Math.ceil(wait / 60) +
				    ' minutes.');
			setState('error', msg, true);
		})).catch(() => {
			if (current !== ctl)
				return;
			setState('error', late ? 'No answer within ' +
			    TIMEOUT_MS / 1000 + ' seconds. Try again.' :
			    'Could not reach the server. Check the ' +
			    'connection and try again.', true);
		}).finally(() => {
			clearTimeout(timer);
			if (current === ctl)
				current = null;
		});
	}

	form.addEventListener('submit', (ev) => {
		const link = input.value.trim();
		ev.preventDefault();
		if (link === '') {
			setState('error', 'URL parameter is required', true);
			input.focus();
			return;
		}
		history.replaceState(null, '', '?url=' +
		    encodeURIComponent(link));
		lookup(link);
	});

	cover.addEventListener('error', () => cover.classList.add('broken'));

	/* The bookmarklet and the share address name this page. */
	const here = location.origin + location.pathname;
	const bm = $('bookmarklet');
	bm.href = 'javascript:location.href=' + JSON.stringify(here +
	    '?url=') + '+encodeURIComponent(location.href)';
	bm.addEventListener('click', (ev) => {
		ev.preventDefault();
		setState(root.dataset.state, 'Drag \u201cGet this TikTok\u201d ' +
		    'to your bookmarks bar, then click it on a TikTok post.');
	});
	$('open-url').textContent = here + '?url=LINK';

	const asked = new URLSearchParams(location.search).get('url');
	if (asked && asked.trim() !== '') {
		input.value = asked.trim();
		lookup(asked.trim());
	}
}());
