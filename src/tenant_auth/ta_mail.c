/* ta_mail.c — the mailer behind password-reset and email-verification mails.
 *
 *   BUNBASE_TENANT_AUTH_MAILER=log   (default, development) logs that a mail of a kind was sent
 *                                    and to whom — never its text, which holds the token
 *   BUNBASE_TENANT_AUTH_MAILER=smtp  sends it through libcurl to BUNBASE_TENANT_AUTH_SMTP_URL
 *                                    (smtp://host:port, STARTTLS required with
 *                                    BUNBASE_TENANT_AUTH_SMTP_STARTTLS=1; smtps:// for TLS from
 *                                    the start), from SMTP_FROM, logged in with SMTP_USER and the
 *                                    password read from SMTP_PASSWORD_FILE at start
 * The message is plain text (RFC 5322 headers + body, CRLF line ends); addresses are checked to
 * hold no CR, LF, '<' or '>' so they cannot inject headers or SMTP commands.
 */
#include "tenant_auth_internal.h"
#include "bb_err.h"
#include "bb_id.h"
#include "bb_log.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct reader {
    const char *p;
    size_t left;
};

static size_t on_read(char *buf, size_t size, size_t n, void *arg)
{
    struct reader *r = arg;
    size_t k = size * n < r->left ? size * n : r->left;
    memcpy(buf, r->p, k);
    r->p += k;
    r->left -= k;
    return k;
}

static int addr_ok(const char *a)
{
    return a && *a && strlen(a) <= TA_EMAIL_MAX && !strpbrk(a, "\r\n<>\"") && strchr(a, '@');
}

int ta_mail_send(struct tenant_auth *ta, const char *to, const char *kind, const char *subject,
                 const char *text, char *err, size_t errcap)
{
    if (!addr_ok(to)) {
        snprintf(err, errcap, "invalid recipient address");
        return BB_EINVAL;
    }
    if (strcmp(ta->c.mailer, "smtp") != 0) {
        bb_info(TA_MOD, "mail_sent mailer=log kind=%s to=%s", kind, to);
        return 0;
    }
    /* headers + blank line + body with CRLF line ends */
    char date[64], mid[BB_ID_LEN + 1];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);
    bb_id_new(mid);
    size_t cap = strlen(text) * 2 + 1024 + strlen(subject);
    char *msg = malloc(cap);
    if (!msg) return BB_ENOMEM;
    size_t o = (size_t)snprintf(msg, cap,
                                "Date: %s\r\nFrom: <%s>\r\nTo: <%s>\r\nSubject: %s\r\n"
                                "Message-ID: <%s@bunbase>\r\nMIME-Version: 1.0\r\n"
                                "Content-Type: text/plain; charset=utf-8\r\n\r\n",
                                date, ta->c.smtp_from, to, subject, mid);
    for (const char *p = text; *p && o + 3 < cap; p++) {
        if (*p == '\n' && (p == text || p[-1] != '\r')) msg[o++] = '\r';
        msg[o++] = *p;
    }
    msg[o] = '\0';
    CURL *c = curl_easy_init();
    if (!c) {
        free(msg);
        return BB_ENOMEM;
    }
    char from[sizeof ta->c.smtp_from + 3], rcpt[TA_EMAIL_MAX + 3];
    snprintf(from, sizeof from, "<%s>", ta->c.smtp_from);
    snprintf(rcpt, sizeof rcpt, "<%s>", to);
    struct curl_slist *rl = curl_slist_append(NULL, rcpt);
    struct reader rd = {msg, o};
    curl_easy_setopt(c, CURLOPT_URL, ta->c.smtp_url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
    curl_easy_setopt(c, CURLOPT_MAIL_FROM, from);
    curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rl);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(c, CURLOPT_READDATA, &rd);
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)ta->c.smtp_timeout_ms);
    if (ta->c.smtp_starttls) curl_easy_setopt(c, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
    if (ta->c.smtp_user[0]) curl_easy_setopt(c, CURLOPT_USERNAME, ta->c.smtp_user);
    if (ta->smtp_password) curl_easy_setopt(c, CURLOPT_PASSWORD, ta->smtp_password);
    CURLcode cc = rl ? curl_easy_perform(c) : CURLE_OUT_OF_MEMORY;
    curl_slist_free_all(rl);
    curl_easy_cleanup(c);
    free(msg);
    if (cc != CURLE_OK) {
        snprintf(err, errcap, "the mail could not be sent: %s", curl_easy_strerror(cc));
        bb_warn(TA_MOD, "mail_failed kind=%s to=%s reason=\"%s\"", kind, to,
                curl_easy_strerror(cc));
        return BB_EUNAVAIL;
    }
    bb_info(TA_MOD, "mail_sent mailer=smtp kind=%s to=%s", kind, to);
    return 0;
}
