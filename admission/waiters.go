package admission

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/crowdgate/crowdgate"
	"github.com/crowdgate/crowdgate/notify"
	"github.com/crowdgate/crowdgate/queue"
)

// Waiters who left their contact in the waiting room ("notify me", see
// queue/notifyme.go) are told when their turn is near and when they are
// admitted. The decision is taken here, next to positions and ETAs; the
// message goes to the room's stream in notify (waiterStream), which
// delivers it through the same channels as buyers' messages, at least
// once.
//
// So that nobody can make Crowdgate mail or text people who never asked,
// the first and only message to a new contact is a confirmation whose link
// carries a one-time code; nothing more is sent, and the place is not
// kept, until the code comes back (ConfirmNotify). One contact holds one
// place per room, a place may ask MaxNotifyAsks times, phone numbers are
// taken only for the country codes allowed (Config.PhoneCodes), and each
// room sends at most its budget of messages an hour (notifyBudget).

// nearWait: a waiter's turn is near when their expected wait is at most
// this long, or when at most nearPlaces people are ahead of them.
const (
	nearWait   = 3 * time.Minute
	nearPlaces = 10
)

// waiterStream is the notify stream of a room's waiters' messages. (Before
// notify, booking wrote them to "room.<room>" under its own keys.)
func waiterStream(room string) notify.Stream { return notify.Named("waiters." + room) }

// notifyWaiters tells waiters who asked to be notified that their turn is
// near (at most once) and that they are admitted. It does nothing without
// Config.Notify. The sweep runs it every second.
func (c *Controller) notifyWaiters(ctx context.Context) error {
	if c.cfg.Notify == nil {
		return nil
	}
	rooms, err := c.store.NotifyRooms(ctx)
	if err != nil {
		return err
	}
	var errs []error
	now := c.cfg.Now()
	for _, r := range rooms {
		waiters, err := c.store.NotifyWaiters(ctx, r.Name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, w := range waiters {
			stage := ""
			switch {
			case w.Stage == queue.NotifyUnconfirmed:
				// Nothing but the confirmation until it comes back.
			case w.Admitted:
				stage = queue.NotifyAdmitted
			case w.Stage == "" && c.turnNear(r, w.Position, now):
				stage = queue.NotifyNear
			}
			if stage == "" || stage == w.Stage {
				continue
			}
			if err := c.notifyWaiter(ctx, r, w, stage, now); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// turnNear reports whether the waiter at position is about to be admitted:
// the room admits now, and the waiter is among the next few or expects to
// wait at most nearWait.
func (c *Controller) turnNear(r queue.Room, position int64, now time.Time) bool {
	if !r.Admitting(now) {
		return false
	}
	if position <= nearPlaces {
		return true
	}
	eta := c.Estimate(r, position, now)
	return eta.Expected >= 0 && eta.Expected <= nearWait
}

// notifyWaiter appends one waiter's message and records it. A crash in
// between sends it twice, never not at all. A room whose budget for the
// hour is spent sends it in a later hour.
func (c *Controller) notifyWaiter(ctx context.Context, r queue.Room, w queue.NotifyWaiter, stage string, now time.Time) error {
	room := r.Name
	if ok, err := c.store.TakeNotifyBudget(ctx, room, 1, notifyBudget(r)); err != nil || !ok {
		return err
	}
	link := ""
	if c.cfg.ResumeURL != nil {
		link = c.cfg.ResumeURL(room, c.keys.QueueToken(room, w.ID))
	}
	_, err := c.cfg.Notify.Append(ctx, waiterStream(room), notify.Message{
		Kind: "queue." + stage, Room: room, Link: link, Position: w.Position,
		Email: w.Email, Phone: w.Phone, At: now,
	})
	if err != nil {
		return fmt.Errorf("admission: notify waiter in room %s: %w", room, err)
	}
	return c.store.MarkNotified(ctx, room, w, stage)
}

// notifyBudget is how many messages a room may send its waiters in an
// hour: three per waiter it can admit in that hour (a confirmation, "near"
// and "admitted"), and at least 100, so a slow room can still confirm.
func notifyBudget(r queue.Room) int { return max(100, 3*60*r.AdmitPerMinute) }

// Refusals of AskToNotify beyond the store's.
var (
	errNotifyClosed error = &crowdgate.Error{Kind: crowdgate.RoomClosed, Message: "this room takes nobody now: there is nothing to be told"}
	errPhoneCode    error = &crowdgate.Error{Kind: crowdgate.Invalid, Message: "phone numbers of that country are not accepted here; give an email address", Err: queue.ErrInvalidContact}
	errNotifyBudget error = &crowdgate.Error{Kind: crowdgate.RateLimited, Message: "this room has sent all the messages it may this hour; try again later"}
)

// AskToNotify records that the waiter holding queueToken wants to be told
// at contact when their turn is near, and sends the contact its one
// confirmation, with a link back to the place that confirms it. Errors:
// ErrQueueToken, queue.ErrRoomNotFound, a closed room (kind RoomClosed),
// a phone number of a country not allowed, the room's budget spent, and
// the store's refusals (queue.SetNotify).
func (c *Controller) AskToNotify(ctx context.Context, room, queueToken string, contact queue.Contact) error {
	if c.cfg.Notify == nil {
		return errors.New("admission: no notifications configured")
	}
	id, err := c.queueID(room, queueToken)
	if err != nil {
		return err
	}
	r, err := c.Room(ctx, room)
	if err != nil {
		return err
	}
	if r.Closed {
		return errNotifyClosed
	}
	if err := contact.Validate(); err != nil {
		return err
	}
	if contact.Phone != "" && !phoneAllowed(contact.Phone, c.cfg.PhoneCodes) {
		return errPhoneCode
	}
	code := randomCode()
	if err := c.store.SetNotify(ctx, room, id, contact, code); err != nil {
		return err
	}
	// The budget is spent only on a confirmation that goes out: refused
	// asks (a contact taken, too many asks) must not drain it.
	if ok, err := c.store.TakeNotifyBudget(ctx, room, 1, notifyBudget(r)); err != nil || !ok {
		_ = c.store.CancelNotify(ctx, room, id)
		if err != nil {
			return err
		}
		return errNotifyBudget
	}
	link := ""
	if c.cfg.ResumeURL != nil {
		link = c.cfg.ResumeURL(room, queueToken) + "&confirm=" + code
	}
	_, err = c.cfg.Notify.Append(ctx, waiterStream(room), notify.Message{
		Kind: "contact.confirm", Room: room, Link: link, Email: contact.Email, Phone: contact.Phone, At: c.cfg.Now(),
	})
	if err != nil {
		return fmt.Errorf("admission: confirm contact in room %s: %w", room, err)
	}
	return nil
}

// ConfirmNotify confirms the contact of the waiter holding queueToken with
// the code their confirmation carried, and returns until when their place
// is kept. Errors: ErrQueueToken, queue.ErrBadConfirmation.
func (c *Controller) ConfirmNotify(ctx context.Context, room, queueToken, code string) (time.Time, error) {
	id, err := c.queueID(room, queueToken)
	if err != nil {
		return time.Time{}, err
	}
	return c.store.ConfirmNotify(ctx, room, id, code)
}

// CancelNotify forgets the contact of the waiter holding queueToken.
func (c *Controller) CancelNotify(ctx context.Context, room, queueToken string) error {
	id, err := c.queueID(room, queueToken)
	if err != nil {
		return err
	}
	return c.store.CancelNotify(ctx, room, id)
}

// queueID is the queue id queueToken carries for room.
func (c *Controller) queueID(room, queueToken string) (string, error) {
	id, err := c.keys.ParseQueueToken(room, queueToken)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrQueueToken, err)
	}
	return id, nil
}

// phoneAllowed reports whether phone begins with one of codes ("+91").
// No codes: no phone numbers, which cost money to text and are the usual
// relay for abuse.
func phoneAllowed(phone string, codes []string) bool {
	for _, cc := range codes {
		if cc != "" && strings.HasPrefix(phone, cc) {
			return true
		}
	}
	return false
}

// randomCode is a confirmation code: 128 random bits, URL-safe.
func randomCode() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand never fails
	return base64.RawURLEncoding.EncodeToString(b[:])
}
