/*
 * backend.h - connecting to the backend and negotiating None security.
 */
#ifndef VENCRYPTD_BACKEND_H
#define VENCRYPTD_BACKEND_H

#include "session.h"

/* The client is authorised: start connecting. */
void backend_start(struct session *s);
/* The backend fd became writable (connect done) or readable. */
void backend_writable(struct session *s);
void backend_readable(struct session *s);

#endif
