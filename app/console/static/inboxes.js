"use strict"; // filled by the inboxes page work
