package provisioning

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/behorig/behorig/internal/textcheck"
)

// Category groups catalog systems on the request form, as the guides' menus do (Allmänt,
// E-post och gemensamma kataloger, Ekonomisystem, Vård och omsorg, …).
type Category struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// Systems counts the systems in the category; one with systems cannot be removed.
	Systems int `json:"systems"`
}

// Categories lists the categories in their order on the form.
func (s *Service) Categories(ctx context.Context) ([]Category, error) {
	rows, err := s.db.Query(ctx, `SELECT c.id, c.name, (SELECT count(*) FROM systems s WHERE s.category_id = c.id)::int
		FROM system_categories c ORDER BY c.position, c.name`)
	if err != nil {
		return nil, fmt.Errorf("read categories: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[Category])
}

var notSlug = regexp.MustCompile(`[^a-z0-9]+`)

// categoryID makes an id for a new category from its name: a–z, 0–9 and '-'.
func categoryID(name string) string {
	id := strings.NewReplacer("å", "a", "ä", "a", "ö", "o", "é", "e", "ü", "u").Replace(strings.ToLower(name))
	id = strings.Trim(notSlug.ReplaceAllString(id, "-"), "-")
	if len(id) > 40 {
		id = strings.TrimRight(id[:40], "-")
	}
	if id == "" {
		id = "kategori"
	}
	return id
}

// SaveCategories replaces the categories with the list, in its order: an entry with an ID
// renames that category, one without makes a new one, and a known category left out or
// with an empty name is removed, unless a system has it. Everything is checked first; an
// error saves nothing.
func (s *Service) SaveCategories(ctx context.Context, actor Actor, list []Category) error {
	if err := requireAdmin(actor, "save categories"); err != nil {
		return err
	}
	return s.inTx(ctx, func(tx pgx.Tx) error {
		current, err := s.Categories(ctx)
		if err != nil {
			return err
		}
		known := map[string]Category{}
		for _, c := range current {
			known[c.ID] = c
		}
		ve := &ValidationError{}
		keep := map[string]bool{}
		names := map[string]bool{}
		var write []Category
		for i, c := range list {
			c.ID, c.Name = strings.TrimSpace(c.ID), strings.TrimSpace(c.Name)
			field := fmt.Sprintf("categories[%d]", i)
			if c.ID != "" {
				if _, ok := known[c.ID]; !ok {
					ve.add(field, "%q is not a category", c.ID)
					continue
				}
			}
			if c.Name == "" {
				continue // removed, if it was there
			}
			if len(c.Name) > 120 || textcheck.Line(c.Name) != nil {
				ve.add(field, "must be at most 120 characters without control characters")
				continue
			}
			if names[strings.ToLower(c.Name)] {
				ve.add(field, "%q is listed twice", c.Name)
				continue
			}
			names[strings.ToLower(c.Name)] = true
			if c.ID == "" {
				c.ID = categoryID(c.Name)
				for n := 2; known[c.ID].ID != "" || keep[c.ID]; n++ {
					c.ID = fmt.Sprintf("%s-%d", categoryID(c.Name), n)
				}
			}
			keep[c.ID] = true
			write = append(write, c)
		}
		for _, c := range current {
			if !keep[c.ID] && c.Systems > 0 {
				ve.add("categories", "%s has systems; move them to another category first", c.Name)
			}
		}
		if err := ve.err(); err != nil {
			return err
		}
		for _, c := range current {
			if !keep[c.ID] {
				if _, err := tx.Exec(ctx, "DELETE FROM system_categories WHERE id = $1", c.ID); err != nil {
					return fmt.Errorf("remove category %s: %w", c.ID, err)
				}
			}
		}
		for i, c := range write {
			if _, err := tx.Exec(ctx, `INSERT INTO system_categories (id, name, position) VALUES ($1, $2, $3)
				ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, position = EXCLUDED.position`, c.ID, c.Name, (i+1)*10); err != nil {
				return fmt.Errorf("save category %s: %w", c.Name, err)
			}
		}
		return s.record(ctx, tx, actor.Subject, "catalog.categories_saved", "", "", map[string]any{"categories": write})
	})
}

// checkTrainingAndCategory checks a system's training link (an http or https URL, which the
// form links to) and its category.
func checkTrainingAndCategory(ctx context.Context, q querier, in *SystemAdmin, ve *ValidationError) error {
	in.TrainingURL, in.Category = strings.TrimSpace(in.TrainingURL), strings.TrimSpace(in.Category)
	if in.TrainingURL != "" {
		u, err := url.Parse(in.TrainingURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || len(in.TrainingURL) > 500 ||
			textcheck.Line(in.TrainingURL) != nil {
			ve.add("trainingUrl", "must be a web address starting with https://")
		}
	}
	if in.Category != "" {
		var exists bool
		if err := q.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM system_categories WHERE id = $1)", in.Category).Scan(&exists); err != nil {
			return fmt.Errorf("look up category %s: %w", in.Category, err)
		}
		if !exists {
			ve.add("category", "%q is not a category", in.Category)
		}
	}
	return nil
}
